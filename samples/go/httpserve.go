// httpserve ADDR: a net/http server on ADDR (host:port) and, in the same
// program, clients that GET from it over real TCP: goroutines per
// connection, keep-alive and fresh connections, a POST body echoed back,
// a 404, and a graceful shutdown. The output does not depend on
// scheduling; runner/tests/go.rs compares it with a native run.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpserve HOST:PORT")
		os.Exit(2)
	}
	addr := os.Args[1]
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Length", fmt.Sprint(len(b)))
		w.Write([]byte(strings.ToUpper(string(b))))
	})
	srv := &http.Server{Handler: mux}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	base := "http://" + addr
	get := func(c *http.Client, path string) string {
		resp, err := c.Get(base + path)
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	keep := &http.Client{Timeout: 10 * time.Second}
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	fmt.Println("keep-alive:", get(keep, "/hello?name=a"), "|", get(keep, "/hello?name=b"))
	fmt.Println("fresh:", get(fresh, "/hello?name=c"))
	fmt.Println("missing:", get(keep, "/nowhere")[:3])
	resp, err := keep.Post(base+"/echo", "text/plain", strings.NewReader("a body"))
	if err != nil {
		fmt.Println("post:", err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("post:", resp.StatusCode, string(b), resp.Header.Get("X-Length"))

	// Twenty clients at once, each on its own connection.
	var wg sync.WaitGroup
	results := make([]string, 20)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = get(fresh, fmt.Sprintf("/hello?name=%d", i))
		}(i)
	}
	wg.Wait()
	ok := 0
	for i, r := range results {
		if r == fmt.Sprintf("200 hello %d", i) {
			ok++
		}
	}
	fmt.Printf("concurrent: %d of %d\n", ok, len(results))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Println("shutdown:", err)
	}
	fmt.Println("served:", <-done == http.ErrServerClosed)
}
