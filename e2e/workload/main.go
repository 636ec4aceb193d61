// Command workload is the program the e2e tests run as a service: a static
// binary put in an image FROM scratch. What it does is set by environment
// variables, so one image serves every scenario:
//
//	VERSION     printed in every greeting (default "v1")
//	PORT        serve HTTP there ("" = 8080; "none" = do not serve)
//	EXIT_AFTER  exit after this duration (Go syntax), with EXIT_CODE (default 1)
//	LOG_EVERY   print a numbered line at this interval
//	PRINT_FILES comma-separated paths whose contents and modes are printed at start
//	UNHEALTHY   "1": the healthcheck fails
//
// It prints "hello VERSION" when it starts and exits 0 on SIGTERM.
//
// "workload health" is its healthcheck: the image is FROM scratch, so a
// service's --health-cmd runs the workload itself. It exits 1 when
// UNHEALTHY=1, 0 otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "health" {
		os.Exit(health())
	}
	version := envOr("VERSION", "v1")
	host, _ := os.Hostname()
	fmt.Printf("hello %s from %s\n", version, host)
	for _, p := range strings.Split(os.Getenv("PRINT_FILES"), ",") {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err != nil {
			fmt.Printf("file %s: %v\n", p, err)
		} else {
			data, _ := os.ReadFile(p)
			fmt.Printf("file %s mode %v: %s\n", p, fi.Mode().Perm(), data)
		}
	}
	if d, err := time.ParseDuration(os.Getenv("EXIT_AFTER")); err == nil {
		code, _ := strconv.Atoi(envOr("EXIT_CODE", "1"))
		time.AfterFunc(d, func() {
			fmt.Printf("exiting with %d\n", code)
			os.Exit(code)
		})
	}
	if d, err := time.ParseDuration(os.Getenv("LOG_EVERY")); err == nil && d > 0 {
		go func() {
			for i := 1; ; i++ {
				time.Sleep(d) // the workload's own pacing, not a wait for state
				fmt.Printf("line %d\n", i)
			}
		}()
	}
	if port := envOr("PORT", "8080"); port != "none" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s from %s\n", version, host)
		})
		go func() {
			if err := http.ListenAndServe(":"+port, nil); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Println("bye")
}

// health is the healthcheck's exit code: 1 when UNHEALTHY=1.
func health() int {
	if os.Getenv("UNHEALTHY") == "1" {
		fmt.Println("unhealthy (UNHEALTHY=1)")
		return 1
	}
	fmt.Println("healthy")
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
