// Package bench measures tillid's views beside other libraries doing the
// same work, in a module of its own so that the core module never
// requires them (internal/depcheck enforces it). It has no code, only
// benchmarks and the tests that check both sides produce the same output:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./internal/bench/
package bench
