// A minimal HTTP responder for the connection-rate benchmark, so the server is not what limits the
// rate: one epoll loop, reads the request, answers "200 ok" and closes (what a server does for
// `Connection: close`). connrate.bench.ts compiles it with `cc -O2` when a compiler is present and
// falls back to fast-http.mjs otherwise. Prints "listening" once every port listens.
//   fast-http PORT...
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT...\n", argv[0]);
    return 2;
  }
  int ep = epoll_create1(0);
  if (ep < 0) {
    perror("epoll_create1");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    int port = atoi(argv[i]);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (port < 1 || port > 65535 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4096)) {
      perror(argv[i]);
      return 1;
    }
    // Listening sockets are tagged with the low bit.
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)s << 1 | 1};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  }
  printf("listening\n");
  fflush(stdout);
  struct epoll_event evs[256];
  char buf[4096];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = (int)(evs[i].data.u64 >> 1);
      if (evs[i].data.u64 & 1) {
        for (;;) {
          int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)c << 1};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev)) close(c);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (r > 0 && write(fd, RESPONSE, sizeof RESPONSE - 1) < 0) {
        // the client is gone; close below
      }
      close(fd);
    }
  }
}
