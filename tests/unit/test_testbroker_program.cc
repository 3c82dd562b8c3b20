// The pulsarc-testbroker program: ready line, serving, clean exit on SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "codec/frame.h"
#include "common/buf.h"
}
#include "testbroker.h"

extern char **environ;

namespace {

// A spawned pulsarc-testbroker with its stdout on a pipe.
struct Program {
  pid_t pid = -1;
  FILE *out = nullptr;

  bool Spawn(const std::vector<std::string> &args) {
    int fds[2];
    if (pipe(fds) != 0)
      return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    std::vector<char *> argv;
    std::string path = pulsarc_tb_program_path();
    argv.push_back(const_cast<char *>(path.c_str()));
    for (const auto &a : args)
      argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      return false;
    }
    out = fdopen(fds[0], "r");
    return out != nullptr;
  }

  std::string ReadLine() {
    char line[256];
    if (!fgets(line, sizeof(line), out))
      return "";
    std::string s(line);
    if (!s.empty() && s.back() == '\n')
      s.pop_back();
    return s;
  }

  // Exit status, or -1 if it did not exit normally.
  int Wait() {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
      return -1;
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  ~Program() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (out)
      fclose(out);
  }
};

// Sends CONNECT and PARTITIONED_METADATA, returns the partition count or -1.
int QueryPartitions(uint16_t port, const char *topic) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  pc_buf b{};
  Pulsarc__CommandConnect c = PULSARC__COMMAND_CONNECT__INIT;
  c.client_version = const_cast<char *>("program-test");
  c.has_protocol_version = 1;
  c.protocol_version = 19;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__CONNECT;
  cmd.connect = &c;
  pc_frame_append_command(&b, &cmd);
  Pulsarc__CommandPartitionedTopicMetadata m = PULSARC__COMMAND_PARTITIONED_TOPIC_METADATA__INIT;
  m.topic = const_cast<char *>(topic);
  m.request_id = 1;
  Pulsarc__BaseCommand cmd2 = PULSARC__BASE_COMMAND__INIT;
  cmd2.type = PULSARC__BASE_COMMAND__TYPE__PARTITIONED_METADATA;
  cmd2.partition_metadata = &m;
  pc_frame_append_command(&b, &cmd2);
  ssize_t w = send(fd, b.data, b.len, MSG_NOSIGNAL);
  pc_buf_free(&b);
  int result = -1;
  pc_decoder d;
  pc_decoder_init(&d, 0);
  bool done = w <= 0;
  while (!done) {
    pc_frame f;
    int r = pc_decoder_next(&d, &f);
    if (r < 0)
      break;
    if (r == 1) {
      if (f.cmd->type == PULSARC__BASE_COMMAND__TYPE__PARTITIONED_METADATA_RESPONSE) {
        result = static_cast<int>(f.cmd->partition_metadata_response->partitions);
        break;
      }
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0)
      break;
    size_t avail = 0;
    uint8_t *space = pc_decoder_space(&d, 4096, &avail);
    ssize_t n = recv(fd, space, avail, 0);
    if (n <= 0)
      break;
    pc_decoder_commit(&d, static_cast<size_t>(n));
  }
  pc_decoder_free(&d);
  close(fd);
  return result;
}

TEST(TestBrokerProgram, PrintsReadyLineServesAndExitsCleanlyOnSigterm) {
  Program p;
  ASSERT_TRUE(p.Spawn({"--listen", "127.0.0.1:0", "--partitions", "orders=4", "--partitions",
                       "persistent://a/b/c=2"}))
      << pulsarc_tb_program_path();
  std::string line = p.ReadLine();
  const std::string prefix = "ready pulsar://127.0.0.1:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
  int port = std::stoi(line.substr(prefix.size()));
  ASSERT_GT(port, 0);
  ASSERT_LT(port, 65536);
  EXPECT_EQ(QueryPartitions(static_cast<uint16_t>(port), "persistent://public/default/orders"), 4);
  EXPECT_EQ(QueryPartitions(static_cast<uint16_t>(port), "persistent://a/b/c"), 2);
  ASSERT_EQ(kill(p.pid, SIGTERM), 0);
  EXPECT_EQ(p.Wait(), 0);
  EXPECT_EQ(p.ReadLine(), ""); // exactly one line on stdout
}

TEST(TestBrokerProgram, SigintAlsoExitsCleanly) {
  Program p;
  ASSERT_TRUE(p.Spawn({"--no-dedup", "--retain-bytes", "1024", "--max-message-size", "65536"}));
  ASSERT_EQ(p.ReadLine().rfind("ready pulsar://", 0), 0u);
  ASSERT_EQ(kill(p.pid, SIGINT), 0);
  EXPECT_EQ(p.Wait(), 0);
}

TEST(TestBrokerProgram, HelpAndBadArguments) {
  Program help;
  ASSERT_TRUE(help.Spawn({"--help"}));
  EXPECT_EQ(help.ReadLine().rfind("usage:", 0), 0u);
  EXPECT_EQ(help.Wait(), 0);

  Program bad;
  ASSERT_TRUE(bad.Spawn({"--partitions", "no-count"}));
  EXPECT_EQ(bad.Wait(), 2);
  EXPECT_EQ(bad.ReadLine(), "");
}

} // namespace
