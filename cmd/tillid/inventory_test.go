package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const customerSrc = "package a\n\nimport \"time\"\n\ntype Customer struct {\n" +
	"\t_       struct{} `pii:\"purpose=account,basis=contract\"`\n" +
	"\tID      string   `pii:\"subject\"`\n" +
	"\tCreated time.Time\n" +
	"\tEmail   string `pii:\"encrypt,class=contact\"`\n" +
	"\tBlood   string `pii:\"encrypt,class=health\"`\n" +
	"\tScan    string `pii:\"encrypt,class=special,retain=90d,from=Created\"`\n}\n"

const policySrc = `{"rules": [
  {"name": "purpose", "require": ["purpose", "basis"]},
  {"name": "art9", "classes": ["health", "special"], "require_any": ["aad", "retain"]}
]}`

func TestInventoryCommand(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		{name: "markdown", files: map[string]string{"a.go": customerSrc}, wantCode: exitOK,
			wantStdout: []string{"## Purpose: account", "| `example.com/m.Customer.Email` | contact | encrypted | default | contract |"}},
		{name: "json", files: map[string]string{"a.go": customerSrc}, args: []string{"-format", "json"}, wantCode: exitOK,
			wantStdout: []string{`"path": "example.com/m.Customer.Blood"`}},
		{name: "csv", files: map[string]string{"a.go": customerSrc}, args: []string{"-format=csv", "."}, wantCode: exitOK,
			wantStdout: []string{"example.com/m.Customer.Email,example.com/m,Customer,,a.go:9,encrypt,encrypted,contact,default,account,contract,,,ID,,"}},
		{name: "policy broken", files: map[string]string{"a.go": customerSrc, "policy.json": policySrc}, args: []string{"-check", "policy.json"},
			wantCode: exitFindings, wantStdout: []string{"a.go:10: example.com/m.Customer.Blood: rule art9: needs one of aad, retain\n"},
			wantStderr: "1 violations"},
		{name: "policy met", files: map[string]string{"a.go": customerSrc[:len(customerSrc)-len("\tBlood   string `pii:\"encrypt,class=health\"`\n\tScan    string `pii:\"encrypt,class=special,retain=90d,from=Created\"`\n}\n")] + "}\n", "policy.json": policySrc},
			args: []string{"-check", "policy.json"}, wantCode: exitOK, wantStderr: "meet the 2 rules"},
		{name: "bad policy", files: map[string]string{"a.go": customerSrc, "policy.json": `{"rules": [{"name": "x", "require": ["colour"]}]}`},
			args: []string{"-check", "policy.json"}, wantCode: exitUsage, wantStderr: `unknown attribute "colour"`},
		{name: "bad format", files: map[string]string{"a.go": customerSrc}, args: []string{"-format", "yaml"}, wantCode: exitUsage, wantStderr: `unknown format "yaml"`},
		{name: "tag refused by its type", files: map[string]string{"a.go": "package m\n\ntype Visit struct {\n\tID  string `pii:\"-\"`\n\tAge int    `pii:\"encrypt,class=health,purpose=care,basis=vital_interests\"`\n}\n"},
			wantCode: exitFailure, wantStderr: "a.go:5: example.com/m.Visit.Age: pii tag \"encrypt,class=health,purpose=care,basis=vital_interests\": encrypt is not supported on int; use pii.Value[int]"},
		{name: "does not build", files: map[string]string{"a.go": customerSrc, "b/b.go": "package b\n\nvar X int = \"s\"\n"},
			wantCode: exitFailure, wantStderr: "package example.com/m/b:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeModule(t, tt.files)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"inventory"}, tt.args...), &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			for _, w := range tt.wantStdout {
				assert.Contains(t, stdout.String(), w)
			}
			if tt.wantCode == exitFailure {
				assert.Empty(t, stdout.String(), "no partial register")
			}
			assert.Contains(t, stderr.String(), tt.wantStderr)
		})
	}
}

func TestInventoryOutputFile(t *testing.T) {
	dir := writeModule(t, map[string]string{"a.go": customerSrc})
	out := filepath.Join(dir, "register.md")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"inventory", "-o", out}, &stdout, &stderr), stderr.String())
	first, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Empty(t, stdout.String())
	require.Equal(t, exitOK, run(context.Background(), []string{"inventory"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, string(first), stdout.String(), "-o writes what standard output gets")
}
