// src/cli/reference_commands.h: moving an installation of the reference
// application to a store and back (include/trackstore/reference_files.h).
#ifndef TRACKSTORE_CLI_REFERENCE_COMMANDS_H_
#define TRACKSTORE_CLI_REFERENCE_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace trackstore {

// Registers
//   trackstore adopt REFERENCE_CACHE_DIR STORE_DIR [--overwrite] [--json]
//   trackstore export-reference STORE_DIR DIR [--no-compress] [--version N] [--json]
// on `app`. The chosen command runs from CLI11's callback during
// app.parse() and stores its exit code in *exit_code. With --json, one
// compact line: {"schema_version":1,"command":...,"ok":true,...report} or
// {"schema_version":1,"command":...,"ok":false,"error":{"code":...,"message":...}}.
void AddReferenceCommands(CLI::App& app, int* exit_code);

}  // namespace trackstore

#endif  // TRACKSTORE_CLI_REFERENCE_COMMANDS_H_
