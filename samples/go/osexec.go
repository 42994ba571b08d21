// osexec: Go's os/exec from a multi-threaded program (its forkExec uses
// clone(CLONE_VM|CLONE_VFORK) and reports exec failures through a pipe):
// output captured, an exit status, stdin and stdout through pipes, a
// missing program, and a batch of children started concurrently from
// goroutines. The programs come from /bin (busybox applets in the tests).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
)

func main() {
	out, err := exec.Command("/bin/echo", "hello", "from", "a", "child").Output()
	fmt.Printf("output: %q, err %v\n", string(out), err)

	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	err = cmd.Run()
	fmt.Printf("exit status: %d (%v)\n", cmd.ProcessState.ExitCode(), err)

	tr := exec.Command("/bin/tr", "a-z", "A-Z")
	tr.Stdin = strings.NewReader("piped through tr\n")
	tr.Stdout = os.Stdout
	fmt.Println("tr:", tr.Run())

	_, err = exec.Command("/nonexistent").Output()
	fmt.Println("missing program:", err)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var lines []string
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o, e := exec.Command("/bin/sh", "-c", fmt.Sprintf("echo child %d; exit %d", i, i)).Output()
			code := 0
			if x, ok := e.(*exec.ExitError); ok {
				code = x.ExitCode()
			}
			mu.Lock()
			lines = append(lines, fmt.Sprintf("%s -> %d", strings.TrimSpace(string(o)), code))
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Println("done")
}
