// src/cli/merge_commands.h: the `merge` and `diff` subcommands.
#ifndef TRACKSTORE_CLI_MERGE_COMMANDS_H_
#define TRACKSTORE_CLI_MERGE_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace trackstore {

// Registers
//   trackstore merge BASE.snap UPDATES.(json|json.gz|snap) OUT.snap [--no-sync] [--json]
//   trackstore diff A B [--version-a N] [--version-b N] [--reference-rule] [--json]
//     (A and B: snapshot files or store directories)
// on `app`. The chosen command runs from CLI11's callback during
// app.parse() and stores its exit code in *exit_code.
void AddMergeCommands(CLI::App& app, int* exit_code);

}  // namespace trackstore

#endif  // TRACKSTORE_CLI_MERGE_COMMANDS_H_
