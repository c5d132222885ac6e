// src/cli/service_commands.h: the `status` and `update` subcommands, which
// work on a SnapshotService directory (snapshot, metadata, delta state).
#ifndef TRACKSTORE_CLI_SERVICE_COMMANDS_H_
#define TRACKSTORE_CLI_SERVICE_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "cli_common.h"

namespace trackstore {

// Registers
//   trackstore status DIR [--library FILE] [--max-age-hours H]
//   trackstore update DIR IN.json --library FILE [--processed-ids IDS.json]
// on `app`, in `commands`. status exits 0 when the snapshot is valid, 3
// when it is not (the reason printed), 1 when DIR cannot be read.
void AddServiceCommands(CLI::App& app, cli::CommandTable* commands);

}  // namespace trackstore

#endif  // TRACKSTORE_CLI_SERVICE_COMMANDS_H_
