package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeModule writes a module named example.com/m with the given files
// into a new directory and makes it the working directory.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, body := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	}
	t.Chdir(dir)
	t.Setenv("GOWORK", "off")
	return dir
}

func TestVetCommand(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{
			name:       "reports with position",
			files:      map[string]string{"a.go": "package a\n\ntype Customer struct {\n\tID    string `pii:\"-\"`\n\tEmail string\n\tName  string `pii:\"encrpyt\"`\n}\n"},
			wantCode:   exitFindings,
			wantStdout: "a.go:5:2: Email looks like personal data (contact)",
		},
		{
			name:     "clean",
			files:    map[string]string{"a.go": "package a\n\ntype Customer struct {\n\tID    string `pii:\"-\"`\n\tEmail string `pii:\"encrypt,class=contact\"`\n}\n"},
			wantCode: exitOK,
		},
		{
			name:       "does not build",
			files:      map[string]string{"a.go": "package a\n\nvar x int = \"s\"\n", "b/b.go": "package b\n"},
			wantCode:   exitFailure,
			wantStderr: "package example.com/m:",
		},
		{
			name:       "a dependency does not build",
			files:      map[string]string{"a/a.go": "package a\n\nimport \"example.com/m/c\"\n\nvar X = c.Y\n", "c/c.go": "package c\n\nvar Y int = \"s\"\n"},
			args:       []string{"./a"},
			wantCode:   exitFailure,
			wantStderr: "package example.com/m/c (imported by example.com/m/a):",
		},
		{
			name:       "no packages",
			files:      map[string]string{"README": "x"},
			wantCode:   exitFailure,
			wantStderr: "matched no packages",
		},
		{
			name:     "bad flag",
			files:    map[string]string{"a.go": "package a\n"},
			args:     []string{"-nope"},
			wantCode: exitUsage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeModule(t, tt.files)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"vet"}, tt.args...), &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tt.wantStdout)
			assert.Contains(t, stderr.String(), tt.wantStderr)
		})
	}
}

func TestIsVetTool(t *testing.T) {
	assert.True(t, isVetTool([]string{"-V=full"}))
	assert.True(t, isVetTool([]string{"-flags"}))
	assert.True(t, isVetTool([]string{"-piivet", "/tmp/x/vet.cfg"}))
	assert.True(t, isVetTool([]string{"/tmp/x/vet.cfg"}))
	assert.False(t, isVetTool([]string{"vet", "./..."}))
	assert.False(t, isVetTool([]string{"keys", "list", "-store", "x.cfg"}), "a command, not go vet")
	assert.False(t, isVetTool(nil))
}

// TestGoVetVettool builds tillid and runs it as go vet's -vettool: go vet
// speaks unitchecker's protocol (-V=full, -flags, one .cfg per package).
func TestGoVetVettool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tillid binary")
	}
	src, err := os.Getwd()
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "tillid")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	writeModule(t, map[string]string{
		"a.go": "package a\n\nimport \"fmt\"\n\ntype Customer struct {\n\tID    string `pii:\"-\"`\n\tEmail string `pii:\"encrypt\"`\n\tPhone string\n}\n\nfunc Show(c Customer) { fmt.Println(c) }\n",
	})
	vet := exec.Command("go", "vet", "-vettool="+bin, "./...")
	out, err = vet.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "go vet must fail: %s", out)
	assert.Contains(t, string(out), "a.go:8:2: Phone looks like personal data (contact)")
	assert.Contains(t, string(out), "a.go:11:37: Customer holds pii-tagged fields and fmt.Println prints them")
}

// TestVetOtherModule checks that a struct of another module held by a
// local struct is checked where it is used: this run does not check its
// declaration, and pii would refuse the local struct for it.
func TestVetOtherModule(t *testing.T) {
	writeModule(t, map[string]string{
		"a.go":       "package a\n\nimport \"example.com/dep\"\n\ntype Order struct {\n\tID     string `pii:\"-\"`\n\tBuyer  dep.Buyer\n}\n",
		"dep/go.mod": "module example.com/dep\n\ngo 1.26\n",
		"dep/dep.go": "package dep\n\ntype Buyer struct {\n\tAge int `pii:\"encrypt\"`\n}\n",
	})
	mod := "module example.com/m\n\ngo 1.26\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ./dep\n"
	require.NoError(t, os.WriteFile("go.mod", []byte(mod), 0o644))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"vet", "."}, &stdout, &stderr)
	assert.Equal(t, exitFindings, code, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "a.go:7:2: dep.Buyer: field Age: pii tag \"encrypt\": encrypt is not supported on int")
}
