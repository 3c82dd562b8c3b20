// Runs the real Prometheus parsers on a metrics text: promtool (Debian
// prometheus) and tests/metrics/check_prom_text.py (python3-prometheus-client).
// Shared by the unit and integration metrics tests.
#ifndef PULSARC_TESTS_METRICS_TOOLS_H
#define PULSARC_TESTS_METRICS_TOOLS_H

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace pulsarc_metrics_test {

struct TempFile {
  std::string path;
  explicit TempFile(const std::string &text) {
    char tmpl[] = "/tmp/pulsarc-metrics-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd >= 0) {
      path = tmpl;
      size_t off = 0;
      while (off < text.size()) {
        ssize_t n = write(fd, text.data() + off, text.size() - off);
        if (n <= 0)
          break;
        off += (size_t)n;
      }
      close(fd);
    }
  }
  ~TempFile() {
    if (!path.empty())
      unlink(path.c_str());
  }
};

inline std::string quote(const std::string &s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Exit status of cmd (127: not found), its stdout and stderr in *out.
inline int run(const std::string &cmd, std::string *out) {
  out->clear();
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr)
    return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline bool have(const char *program) {
  std::string out;
  return run(std::string("command -v ") + program, &out) == 0;
}

// promtool check metrics reads the text on stdin; it prints nothing and
// exits 0 when the text parses and passes its lint.
inline int promtool_check(const std::string &path, std::string *out) {
  if (!have("promtool")) {
    *out = "promtool not found: install Debian's prometheus package (tools/install-deps.sh)";
    return -1;
  }
  return run("promtool check metrics < " + quote(path), out);
}

inline std::string script_path() {
  std::string here = __FILE__; // tests/metrics/metrics_tools.h, absolute under CMake
  return here.substr(0, here.rfind('/')) + "/check_prom_text.py";
}

inline int python_check(const std::string &path, const std::vector<std::string> &args,
                        std::string *out) {
  // Debian's python3-prometheus-client lives in the system Python, which a
  // python3 earlier in PATH (pyenv, a venv) may not see.
  std::string py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  std::string cmd = py + " " + quote(script_path()) + " " + quote(path);
  for (const std::string &a : args)
    cmd += " " + quote(a);
  int rc = run(cmd, out);
  if (rc == 2)
    *out = "the Python prometheus_client parser is missing (python3-prometheus-client, "
           "tools/install-deps.sh): " +
           *out;
  return rc;
}

} // namespace pulsarc_metrics_test

#endif
