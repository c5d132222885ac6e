// src/cli/shm_commands.h: the `trackstore shm ...` commands.
//
//   trackstore shm publish NAME KEY FILE.snap [--ttl S] [--capacity MB]
//   trackstore shm get NAME KEY [ID] [--json]
//   trackstore shm lookup NAME KEY [--count N] [--seed S]
//   trackstore shm stat NAME [--json]
//   trackstore shm clear NAME
//   trackstore shm remove NAME
//
// Wiring into main(): call AddShmCommands(app, &shm_exit) before
// app.parse(); the chosen command runs from CLI11's callback during parse
// and stores its exit code (0 success, 1 failure) in *exit_code. After
// parse returns, `if (app.got_subcommand("shm")) return shm_exit;`.
#ifndef TRACKSTORE_SRC_CLI_SHM_COMMANDS_H_
#define TRACKSTORE_SRC_CLI_SHM_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace trackstore {

void AddShmCommands(CLI::App& app, int* exit_code);

}  // namespace trackstore

#endif  // TRACKSTORE_SRC_CLI_SHM_COMMANDS_H_
