package main

import (
	"flag"

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
	fs.BoolVar(&f.insecure, "insecure", false, "allow plaintext TCP to or from a non-loopback address (everything, file data included, travels in the clear)")
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
