package awsemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// motoStartTimeout bounds how long moto may take to answer after it starts;
// a cold Python start on a busy 2-core machine takes a few seconds.
const motoStartTimeout = 60 * time.Second

// motoProcess is a moto_server child running in its own process group, so
// that stopping it also stops anything it started.
type motoProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed when the process has exited
}

// startMoto starts command (a program and optional arguments, e.g.
// "moto_server" or "python3 -m moto.server") on a free loopback port and
// waits until it answers HTTP. A port taken between choosing and binding
// makes moto exit; startMoto then tries another.
func startMoto(ctx context.Context, command string, logf func(string, ...any)) (*motoProcess, error) {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return nil, errors.New("empty moto command")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("choosing a port for moto: %w", err)
		}
		p, err := launchMoto(argv, port, logf)
		if err != nil {
			return nil, err
		}
		err = p.waitReady(ctx)
		if err == nil {
			return p, nil
		}
		p.stop()
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func launchMoto(argv []string, port int, logf func(string, ...any)) (*motoProcess, error) {
	args := append(append([]string(nil), argv[1:]...), "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd := exec.Command(argv[0], args...)
	setProcessGroup(cmd)
	var pw *io.PipeWriter
	if logf != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				logf("moto: %s", sc.Text())
			}
			_, _ = io.Copy(io.Discard, pr)
		}()
	}
	if err := cmd.Start(); err != nil {
		if pw != nil {
			_ = pw.Close()
		}
		return nil, fmt.Errorf("starting moto (%s): %w", argv[0], err)
	}
	p := &motoProcess{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		if pw != nil {
			_ = pw.Close() // ends the log reader
		}
		close(p.done)
	}()
	return p, nil
}

// waitReady polls moto until it answers any HTTP request.
func (p *motoProcess) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, motoStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/moto-api/", nil)
		if err != nil {
			return fmt.Errorf("probing moto: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("moto exited before answering on %s: %v", p.url, p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("waiting for moto on %s: %w", p.url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends moto's whole process group: a polite SIGTERM, then SIGKILL for
// whatever is left, so that no process outlives the emulator.
func (p *motoProcess) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	terminateGroup(p.cmd, false)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
	}
	terminateGroup(p.cmd, true) // also reaps children the leader left behind
	<-p.done
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
