/* pulsarc-perf: bytes on the wire, read from the kernel. The tool uses the
 * public API only, so it cannot see the library's sockets; it finds them
 * among its own file descriptors instead and asks TCP_INFO how many bytes
 * each has sent and had acknowledged. Framing, batch headers and
 * compression are all included, which is the point of the figure. */
#include <dirent.h>
#include <linux/tcp.h> /* glibc's struct tcp_info lacks tcpi_bytes_acked */
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "perf.h"

static int peer_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &sl))
    return -1;
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return -1;
}

int64_t perf_wire_bytes(uint16_t broker_port) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int64_t sum = 0;
  bool any = false;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    int fd = atoi(e->d_name);
    struct stat st;
    if (fd == dirfd(d) || fstat(fd, &st) || !S_ISSOCK(st.st_mode))
      continue;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_STREAM)
      continue;
    int port = peer_port(fd);
    /* The embedded broker's accepted sockets live in this process too: only
     * the ones whose PEER is the broker are the client's. */
    if (port < 0 || (broker_port && port != broker_port))
      continue;
    struct tcp_info ti;
    socklen_t il = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &il) ||
        il < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked)
      continue;
    sum += (int64_t)ti.tcpi_bytes_acked;
    any = true;
  }
  closedir(d);
  return any ? sum : -1;
}
