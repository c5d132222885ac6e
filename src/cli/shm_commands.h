// src/cli/shm_commands.h: the `trackstore shm ...` commands.
//
//   trackstore shm publish NAME KEY FILE.snap [--ttl S] [--capacity MB]
//   trackstore shm get NAME KEY [ID]
//   trackstore shm lookup NAME KEY [--count N] [--seed S]
//   trackstore shm stat NAME
//   trackstore shm clear NAME
//   trackstore shm remove NAME
//
// AddShmCommands registers them in `commands` (each with --json and
// --quiet, as every command), named "shm publish" and so on.
#ifndef TRACKSTORE_SRC_CLI_SHM_COMMANDS_H_
#define TRACKSTORE_SRC_CLI_SHM_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "cli_common.h"

namespace trackstore {

void AddShmCommands(CLI::App& app, cli::CommandTable* commands);

}  // namespace trackstore

#endif  // TRACKSTORE_SRC_CLI_SHM_COMMANDS_H_
