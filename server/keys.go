package server

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/ragd/ragd/embed"
)

// ParseKeys reads an API keys file: one key per line as
//
//	<role> <key> [<name>]
//
// role being read, write or admin; blank lines and lines starting with #
// are skipped. A key without a name is named after its line ("line 3").
// Errors name the line but never echo a key.
func ParseKeys(r io.Reader) ([]APIKey, error) {
	var keys []APIKey
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%w: api keys line %d: want \"<role> <key> [<name>]\"", ErrInvalidConfig, n)
		}
		role, err := ParseRole(f[0])
		if err != nil {
			return nil, fmt.Errorf("api keys line %d: %w", n, err)
		}
		k := APIKey{Role: role, Key: embed.Secret(f[1]), Name: fmt.Sprintf("line %d", n)}
		if len(f) == 3 {
			k.Name = f[2]
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read api keys: %w", err)
	}
	return keys, nil
}
