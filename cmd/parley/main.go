// Command parley runs the Parley voice platform: `parley serve` (the default) starts the SIP,
// RTP and HTTP services; `parley version` prints the version; `parley conf|call|app|endpoint|
// recording …` operate a running server through its REST API (internal/cli).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/parley-voice/parley/internal/app"
	"github.com/parley-voice/parley/internal/cli"
	"github.com/parley-voice/parley/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "parley %s\n", version)
		return 0
	case "serve":
		return serve(args, stdout, stderr)
	case "help":
		usage(stdout)
		return 0
	}
	if cli.IsCommand(cmd) {
		return cli.Run(append([]string{cmd}, args...), stdout, stderr, os.Getenv)
	}
	fmt.Fprintf(stderr, "parley: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: parley [serve] [flags]   start Parley (flags: parley serve -h)")
	fmt.Fprintln(w, "       parley version           print the version")
	fmt.Fprintln(w, cli.Usage)
}

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		config.PrintUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley: configuration: %v\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	srv, err := app.New(cfg, app.Options{Logger: logger, Version: version, Stdout: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "parley: %v\n", err)
		return 1
	}
	logger = srv.Logger() // with node_id on a node of a cluster
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "parley: %v\n", err)
		srv.Close()
		return 1
	}
	<-ctx.Done()
	stopSignals()
	logger.Info("shutting down: draining live calls", "grace", cfg.ShutdownGrace)

	// A second signal ends the drain at once.
	drainCtx, cancelDrain := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancelDrain()
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
