// src/cli/service_commands.h: the `status` and `update` subcommands, which
// work on a SnapshotService directory (snapshot, metadata, delta state).
#ifndef TRACKSTORE_CLI_SERVICE_COMMANDS_H_
#define TRACKSTORE_CLI_SERVICE_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace trackstore {

// Registers
//   trackstore status DIR [--library FILE] [--max-age-hours H] [--json]
//   trackstore update DIR IN.json --library FILE [--processed-ids IDS.json]
// on `app`. The chosen command runs from CLI11's callback during
// app.parse() and stores its exit code (0 success, 1 failure) in
// *exit_code, which must outlive the parse. Usage errors are CLI11's
// (ParseError), as for every other subcommand.
void AddServiceCommands(CLI::App& app, int* exit_code);

}  // namespace trackstore

#endif  // TRACKSTORE_CLI_SERVICE_COMMANDS_H_
