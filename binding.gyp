{
  "targets": [
    {
      "target_name": "packet_socket",
      "sources": ["src/wire/addon/packet_socket.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    },
    {
      "target_name": "udp_socket",
      "sources": ["src/wire/addon/udp_socket.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
