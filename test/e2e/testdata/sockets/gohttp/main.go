// A Go net/http server and client on loopback TCP in one process (the Go
// runtime uses epoll, eventfd, timers and signals).
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
	})
	go http.Serve(ln, mux)
	c := &http.Client{Timeout: 10 * time.Second}
	n := 200
	if len(os.Args) > 1 {
		fmt.Sscan(os.Args[1], &n)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		r, err := c.Get(fmt.Sprintf("http://%s/hello?n=%d", ln.Addr(), i))
		if err != nil {
			fmt.Println("get:", err)
			os.Exit(1)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if i%50 == 0 {
			fmt.Println(r.StatusCode, string(b))
		}
	}
	fmt.Fprintf(os.Stderr, "%d requests in %v\n", n, time.Since(start))
	fmt.Println("done")
}
