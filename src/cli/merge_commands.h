// src/cli/merge_commands.h: the `merge` and `diff` subcommands.
#ifndef TRACKSTORE_CLI_MERGE_COMMANDS_H_
#define TRACKSTORE_CLI_MERGE_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "cli_common.h"

namespace trackstore {

// Registers
//   trackstore merge BASE.snap UPDATES.(json|json.gz|snap) OUT.snap [--no-sync]
//   trackstore diff A B [--version-a N] [--version-b N] [--reference-rule]
//     (A and B: snapshot files or store directories)
// on `app`, in `commands`.
void AddMergeCommands(CLI::App& app, cli::CommandTable* commands);

}  // namespace trackstore

#endif  // TRACKSTORE_CLI_MERGE_COMMANDS_H_
