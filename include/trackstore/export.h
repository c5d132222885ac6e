// include/trackstore/export.h
//
// TRACKSTORE_EXPORT marks the library's public API. The library is built
// with -fvisibility=hidden, so only what carries this mark is visible in
// libtrackstore.so: the classes and functions declared in these headers,
// not the internal namespaces nor the third-party code compiled into it
// (FlatBuffers, simdjson, nlohmann::json, Boost.Interprocess).
// TRACKSTORE_HIDDEN is for the library's own sources: a class's nested
// implementation (its Rep, defined in src/) would inherit the exported
// class's visibility, so its definition says TRACKSTORE_HIDDEN.
#ifndef TRACKSTORE_EXPORT_H_
#define TRACKSTORE_EXPORT_H_

// Every public header includes this one, so a program compiled below C++20
// stops here with the reason instead of on the first C++20 construct.
#if __cplusplus < 202002L
#error "trackstore's headers need C++20 or later (-std=c++20)"
#endif

#if !defined(TRACKSTORE_EXPORT)
#if defined(__GNUC__) || defined(__clang__)
#define TRACKSTORE_EXPORT [[gnu::visibility("default")]]
#define TRACKSTORE_HIDDEN [[gnu::visibility("hidden")]]
#else
#define TRACKSTORE_EXPORT
#define TRACKSTORE_HIDDEN
#endif
#endif

#endif  // TRACKSTORE_EXPORT_H_
