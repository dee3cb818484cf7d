package main

import (
	"flag"

	"github.com/hashicorp/go-hclog"

	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// tlsFlags are the mutual-TLS flags of every verb that listens on or dials
// a TCP target (docs/OPERATIONS.md).
type tlsFlags struct {
	files    transport.TLSFiles
	insecure bool
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.files.Cert, "tls-cert", "", "this end's certificate (`PEM` file) for mutual TLS on TCP targets")
	fs.StringVar(&f.files.Key, "tls-key", "", "the private key (`PEM` file) of --tls-cert")
	fs.StringVar(&f.files.CA, "tls-ca", "", "the CA bundle (`PEM` file) the other end's certificate must chain to")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plaintext, unauthenticated TCP (loopback included): any peer that reaches the port is served, and everything, file data included, travels in the clear")
}

// check refuses plaintext targets that leave the machine, and loads the
// files once so that a bad one is reported before anything starts.
func (f *tlsFlags) check(ts ...transport.Target) error {
	for _, t := range ts {
		if err := transport.CheckPlaintext(t, f.files, f.insecure); err != nil {
			return err
		}
		if f.files.UsesTLS(t) {
			if _, err := f.files.ServerConfig(); err != nil {
				return err
			}
		}
	}
	return nil
}

// warnInsecure logs, loudly, that a daemon serves TCP without
// authentication.
func (f *tlsFlags) warnInsecure(log hclog.Logger, t transport.Target) {
	if f.insecure && t.Network == "tcp" && !f.files.UsesTLS(t) {
		log.Warn("INSECURE: --insecure without TLS: any peer that reaches " + t.String() + " is served with this daemon's privileges, unauthenticated and in the clear")
	}
}
