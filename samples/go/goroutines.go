// goroutines: workers over channels, a mutex-protected map, a WaitGroup,
// select with timers, and sleeps. Its output does not depend on
// scheduling or GOMAXPROCS; the tests compare it with a native run.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

func worker(id int, jobs <-chan int, results chan<- [2]int) {
	for j := range jobs {
		s := 0
		for k := 0; k < 20000; k++ {
			s += (j * k) % 7
		}
		results <- [2]int{j, s}
	}
}

func main() {
	jobs := make(chan int, 64)
	results := make(chan [2]int, 64)
	for w := 0; w < 6; w++ {
		go worker(w, jobs, results)
	}
	go func() {
		for j := 0; j < 500; j++ {
			jobs <- j
		}
		close(jobs)
	}()
	total := 0
	for i := 0; i < 500; i++ {
		r := <-results
		total += r[1]
	}
	fmt.Println("workers total:", total)

	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := map[int]int{}
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				mu.Lock()
				counts[i%10]++
				mu.Unlock()
				if i%100 == 0 {
					runtime.Gosched()
				}
			}
		}(g)
	}
	wg.Wait()
	keys := make([]int, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		fmt.Printf("%d:%d ", k, counts[k])
	}
	fmt.Println()

	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	ticks := 0
	// Generous: a ticker drops ticks its reader is late for, so a loaded
	// machine (or slow exits) only delays the fifth; the timeout is a bound.
	timeout := time.After(2 * time.Second)
loop:
	for {
		select {
		case <-tick.C:
			ticks++
			if ticks == 5 {
				break loop
			}
		case <-timeout:
			break loop
		}
	}
	tick.Stop()
	time.Sleep(10 * time.Millisecond)
	fmt.Println("ticks:", ticks, "elapsed >= 30ms:", time.Since(start) >= 30*time.Millisecond)

	if len(os.Args) > 1 {
		data, err := os.ReadFile(os.Args[1])
		if err != nil {
			fmt.Println("read:", err)
			os.Exit(1)
		}
		fmt.Printf("sha256 %x\n", sha256.Sum256(data))
	}
	fmt.Println("done")
}
