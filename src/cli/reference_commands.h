// src/cli/reference_commands.h: moving an installation of the reference
// application to a store and back (include/trackstore/reference_files.h).
#ifndef TRACKSTORE_CLI_REFERENCE_COMMANDS_H_
#define TRACKSTORE_CLI_REFERENCE_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "cli_common.h"

namespace trackstore {

// Registers
//   trackstore adopt REFERENCE_CACHE_DIR STORE_DIR [--overwrite]
//   trackstore export-reference STORE_DIR DIR [--no-compress] [--version N]
// on `app`, in `commands` (doc/cli.md gives their JSON).
void AddReferenceCommands(CLI::App& app, cli::CommandTable* commands);

}  // namespace trackstore

#endif  // TRACKSTORE_CLI_REFERENCE_COMMANDS_H_
