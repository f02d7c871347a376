// Command awsemu runs the local AWS emulator (moto plus instance refresh and
// friends, see package awsemu) until it receives SIGINT or SIGTERM.
//
// When it is ready it prints exactly one line to standard output,
//
//	AWSEMU_URL=http://127.0.0.1:PORT
//
// which scripts parse to find the endpoint; logs go to standard error.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/asg-rollout/packer-plugin-asg/awsemu"
)

func main() {
	speed := flag.Float64("speed", 1, "emulated seconds per real second (warm-ups, checkpoint delays, bake time)")
	port := flag.Int("port", 0, "port of the front server on 127.0.0.1 (0 = any free port)")
	moto := flag.String("moto", "moto_server", "command that runs moto_server")
	verbose := flag.Bool("v", false, "log the emulator's actions and moto's output to standard error")
	anyMoto := flag.Bool("any-moto", false, "run whatever moto is installed, not only moto "+awsemu.MotoVersion)
	printMoto := flag.Bool("moto-version", false, "print the moto version the emulator is written for, and exit")
	flag.Parse()
	if *printMoto {
		fmt.Println(awsemu.MotoVersion)
		return
	}
	if err := run(*speed, *port, *moto, *verbose, *anyMoto); err != nil {
		fmt.Fprintln(os.Stderr, "awsemu:", err)
		os.Exit(1)
	}
}

func run(speed float64, port int, moto string, verbose, anyMoto bool) error {
	if speed <= 0 {
		return fmt.Errorf("-speed must be positive, got %v", speed)
	}
	opts := awsemu.Options{MotoCommand: moto, Speed: speed, Port: port, AnyMotoVersion: anyMoto}
	if verbose {
		logger := log.New(os.Stderr, "awsemu: ", log.LstdFlags|log.Lmicroseconds)
		opts.Logf = logger.Printf
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	srv, err := awsemu.Start(startCtx, opts)
	cancel()
	if err != nil {
		return err
	}
	fmt.Printf("AWSEMU_URL=%s\n", srv.URL())
	_ = os.Stdout.Sync()

	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return nil
}
