// tests/gzip_test_util.h
//
// gzip files in memory, with zlib: the inputs the tool and the reference
// adoption read, and their outputs read back.
#ifndef TRACKSTORE_TESTS_GZIP_TEST_UTIL_H_
#define TRACKSTORE_TESTS_GZIP_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace trackstore::testing {

// One gzip member of `text`, at zlib's best compression.
inline std::string Gzip(const std::string& text) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// The content of a gzip file (its members in order), or "<bad gzip>".
inline std::string Gunzip(const std::string& gz) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return "<bad gzip>";
  std::string out;
  char buf[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END && z.avail_in == 0 ? out : "<bad gzip>";
}

}  // namespace trackstore::testing

#endif  // TRACKSTORE_TESTS_GZIP_TEST_UTIL_H_
