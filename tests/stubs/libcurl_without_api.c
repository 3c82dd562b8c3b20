/* Stands in for libcurl.so.4 in CliErrors.OAuth2WithoutUsableLibcurlSaysWhy:
 * a library of that name that exports none of curl's functions, found first
 * through LD_LIBRARY_PATH, so pulsarc's run-time loading of libcurl fails
 * the way it does against a broken or foreign libcurl.so.4. */
int pulsarc_stub_not_libcurl = 1;
