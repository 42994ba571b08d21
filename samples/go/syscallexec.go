// syscallexec: syscall.Exec from a multi-threaded Go program (the runtime
// has several threads, and goroutines are running): a failing exec leaves
// the program running; a successful one replaces it with the new program,
// alone (runner/tests/go.rs).
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

func main() {
	done := make(chan bool)
	for i := 0; i < 4; i++ {
		go func() {
			for {
				select {
				case <-done:
					return
				default:
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	err := syscall.Exec("/bin/nonexistent", []string{"nonexistent"}, nil)
	fmt.Println("failed exec:", err)
	err = syscall.Exec("/bin/echo", []string{"echo", "hello from the new program"}, os.Environ())
	fmt.Println("exec returned:", err)
	os.Exit(1)
}
