// The JSON field reader behind OAuth2 (src/client/oauth2_json.c): strings
// with every escape, values skipped whole (nested objects holding the same
// key, arrays, literals), numbers, and malformed documents refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

extern "C" {
#include "client/oauth2_json.h"
}

namespace {

int Str(const std::string &js, const char *key, std::string *out) {
  char *s = nullptr;
  int k = pc_json_string(js.data(), js.size(), key, &s);
  if (s != nullptr) {
    *out = s;
    free(s);
  }
  return k;
}

TEST(OAuth2Json, StringsWithEscapesAndSkippedValues) {
  std::string js = R"({"nested":{"access_token":"inner","a":[1,{"x":"y"},null,true,false]},)"
                   R"( "arr":["access_token"], "access_token" : "a\"b\\c\/d\n\u00e9\ud83d\ude00",)"
                   R"("expires_in": 3600.5, "access_token":"second"})";
  std::string v;
  ASSERT_EQ(Str(js, "access_token", &v), PC_JSON_STRING);
  EXPECT_EQ(v, "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80"); // the top level's, the first one
  double n = 0;
  EXPECT_EQ(pc_json_field(js.data(), js.size(), "expires_in", nullptr, &n), PC_JSON_NUMBER);
  EXPECT_DOUBLE_EQ(n, 3600.5);
  EXPECT_EQ(pc_json_field(js.data(), js.size(), "nested", nullptr, nullptr), PC_JSON_OTHER);
  EXPECT_EQ(pc_json_field(js.data(), js.size(), "x", nullptr, nullptr), PC_JSON_ABSENT);
  EXPECT_EQ(Str("{}", "a", &v), PC_JSON_ABSENT);
}

TEST(OAuth2Json, MalformedDocumentsAreRefused) {
  std::string v;
  for (const char *bad :
       {"", "[]", "\"s\"", "{", "{\"a\":}", "{\"a\":\"x}", "{\"a\" \"x\"}", "{\"a\":\"x\",}",
        "{\"a\":\"x\"} trailing", "{\"a\":\"\\q\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"tab\there\"}",
        "{\"a\":tru}", "{\"a\":[1,2}", "{\"a\":\"x\\u00\"}"}) {
    EXPECT_EQ(Str(bad, "a", &v), -1) << bad;
  }
  // A NUL inside the value would cut a C string short: refused.
  EXPECT_EQ(Str(R"({"a":"x\u0000y"})", "a", &v), -1);
  // Nesting is bounded, not recursed without limit.
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(pc_json_field(deep.data(), deep.size(), "b", nullptr, nullptr), -1);
}

} // namespace
