// Package tokenize replaces values such as card numbers and national IDs
// with tokens, so that most systems never hold the real value.
package tokenize
