// src/cli/store_commands.h: the commands of a store directory (store.h):
// commit, log, checkout, compact and gc; import into a store; and the store
// forms of info and verify.
#ifndef TRACKSTORE_CLI_STORE_COMMANDS_H_
#define TRACKSTORE_CLI_STORE_COMMANDS_H_

#include <string>

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "library.h"
#include "trackstore/json.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"

namespace trackstore {

// Registers
//   trackstore commit DIR [UPDATES.(json|json.gz|snap)] [--remove IDS_FILE]
//   trackstore log DIR
//   trackstore checkout DIR VERSION
//   trackstore compact DIR
//   trackstore gc DIR [--keep N]
// the writers with --wait SECONDS and --no-sync, on `app`, in `commands`.
void AddStoreCommands(CLI::App& app, cli::CommandTable* commands);

// `trackstore import IN.json DIR/`: the JSON library becomes the store's
// next version (a full replacement). The store is created when missing.
struct StoreImportArgs {
  std::string in;
  std::string dir;
  DuplicatePolicy duplicates = DuplicatePolicy::kReject;
  bool drop_empty_ids = false;
  bool sync = true;
  double wait = 30;
  uint64_t max_input_bytes = JsonImportOptions{}.max_input_bytes;
};
int RunImportToStore(const StoreImportArgs& a);

// `trackstore generate N DIR/`: the synthetic library becomes the store's
// next version (a full replacement), generated a batch at a time so that
// memory holds about one base fragment's tracks, whatever N.
struct StoreGenerateArgs {
  uint64_t count = 0;
  std::string dir;
  SyntheticOptions options;
};
int RunGenerateToStore(const StoreGenerateArgs& a);

// info and verify of a store version (`timer` started before it was opened).
int PrintStoreInfo(const cli::Library& lib, const cli::Stopwatch& timer);
int VerifyStore(const cli::Library& lib, const cli::Stopwatch& timer);

}  // namespace trackstore

#endif  // TRACKSTORE_CLI_STORE_COMMANDS_H_
