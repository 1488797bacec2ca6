// Package depcheck holds a test of what the core module costs its users:
// testdata/consumer is a program that imports only pii and keys (a keyset
// file), and the test checks, with the go command, that its module graph
// stays at most [MaxConsumerModules] modules and that it compiles no SQL
// driver, KMS SDK or gRPC, and that the core go.mod requires only Tink,
// the golang.org/x modules it uses and the test libraries. It has no API.
package depcheck

// MaxConsumerModules bounds the lines of `go list -m all` for
// testdata/consumer (the consumer itself included): Tink, the golang.org/x
// modules, protobuf and the test libraries that the core's go.mod names.
const MaxConsumerModules = 20
