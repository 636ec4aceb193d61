package store

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The indexers below read typed objects out of records. Keys end in a NUL
// so that a lookup of "web" does not also find "web2" when memdb scans the
// prefix of a non-unique index.

// recordID indexes records by ID; it supports the "id_prefix" lookups that
// resolve the short IDs the docker CLI prints.
type recordID struct{}

func (recordID) FromObject(raw any) (bool, []byte, error) {
	return true, key(raw.(*record).id), nil
}

func (recordID) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return key(s), nil
}

func (recordID) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// stringIndex indexes one string of an object; objects where it is empty
// are left out of the index.
type stringIndex[T any] struct {
	of   func(*T) string
	fold bool
}

// foldedString indexes names, which compare case-insensitively as Swarm
// compares them.
func foldedString[T any](of func(*T) string) *stringIndex[T] {
	return &stringIndex[T]{of: of, fold: true}
}

func exactString[T any](of func(*T) string) *stringIndex[T] {
	return &stringIndex[T]{of: of}
}

func (x *stringIndex[T]) norm(s string) string {
	if x.fold {
		return strings.ToLower(s)
	}
	return s
}

func (x *stringIndex[T]) FromObject(raw any) (bool, []byte, error) {
	s := x.of(raw.(*record).obj.(*T))
	if s == "" {
		return false, nil, nil
	}
	return true, key(x.norm(s)), nil
}

func (x *stringIndex[T]) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return key(x.norm(s)), nil
}

// stringsIndex indexes every string of a list (the secrets a service
// uses); empty strings are skipped.
type stringsIndex[T any] struct {
	of func(*T) []string
}

func exactStrings[T any](of func(*T) []string) *stringsIndex[T] {
	return &stringsIndex[T]{of: of}
}

func (x *stringsIndex[T]) FromObject(raw any) (bool, [][]byte, error) {
	var keys [][]byte
	for _, s := range x.of(raw.(*record).obj.(*T)) {
		if s != "" {
			keys = append(keys, key(s))
		}
	}
	return len(keys) > 0, keys, nil
}

func (x *stringsIndex[T]) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return key(s), nil
}

// intIndex indexes an int as 8 big-endian bytes, so that keys have one
// width inside compound indexes.
type intIndex[T any] struct {
	of func(*T) int
}

func integer[T any](of func(*T) int) *intIndex[T] {
	return &intIndex[T]{of: of}
}

func (x *intIndex[T]) FromObject(raw any) (bool, []byte, error) {
	return true, intKey(x.of(raw.(*record).obj.(*T))), nil
}

func (x *intIndex[T]) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("want one argument, got %d", len(args))
	}
	n, ok := args[0].(int)
	if !ok {
		return nil, fmt.Errorf("want an int argument, got %T", args[0])
	}
	return intKey(n), nil
}

func intKey(n int) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(n))
}

func key(s string) []byte {
	b := make([]byte, 0, len(s)+1)
	return append(append(b, s...), 0)
}

func oneString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("want one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("want a string argument, got %T", args[0])
	}
	return s, nil
}
