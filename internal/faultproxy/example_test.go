package faultproxy_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/aulacapture/aula/internal/faultproxy"
)

func ExampleStart() {
	// An upstream that greets one client.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("hello\n"))
		_ = c.Close()
	}()

	p, err := faultproxy.Start(ln.Addr().String(), faultproxy.Faults{Seed: 1, Latency: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(c)
	_ = c.Close()
	<-done
	fmt.Print(string(b))
	// Output: hello
}
