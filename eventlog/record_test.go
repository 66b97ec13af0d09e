package eventlog

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	cases := []Event{
		{Stream: "account:1", Version: 1, Type: "AccountOpened", Data: []byte(`{"name":"Alice"}`), Time: 1700000000000},
		{Stream: "a:b", Version: 1 << 40, Type: "T", Data: []byte(`{}`), Meta: []byte(`{"by":"x"}`), ID: "req-7", Time: 1},
		{Stream: "bin:\x00\xff", Version: 3, Type: "é", Data: []byte(`{"s":"\u0000"}`)},
		{Stream: "account:2", Version: 9, Type: "BalanceIncreased", Data: []byte(`{"amount":1}`), Time: 3, TypeVersion: 2},
		{Stream: "account:3", Version: 1, Type: "T", Data: []byte(`{}`), TypeVersion: 1<<32 - 1},
	}
	for _, want := range cases {
		rec := AppendRecord(nil, &want)
		var got Event
		if err := DecodeRecord(rec, 42, &got); err != nil {
			t.Fatalf("decode %+v: %v", want, err)
		}
		want.Position = 42
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if format := rec[0]; (want.TypeVersion > 1) != (format == recordFormat2) {
			t.Errorf("type version %d written as record format %d", want.TypeVersion, format)
		}
	}
}

// TestRecordTypeVersionOne: a TypeVersion of 1 is written as format 1,
// which reads back as 0, the same version.
func TestRecordTypeVersionOne(t *testing.T) {
	e := Event{Stream: "a:1", Version: 1, Type: "T", Data: []byte(`{}`), TypeVersion: 1}
	rec := AppendRecord(nil, &e)
	var got Event
	if err := DecodeRecord(rec, 1, &got); err != nil || rec[0] != recordFormat1 || got.TypeVersion != 0 || got.ShapeVersion() != 1 {
		t.Fatalf("format %d, type version %d (shape version %d), %v", rec[0], got.TypeVersion, got.ShapeVersion(), err)
	}
}

func TestDecodeRecordRejectsDamage(t *testing.T) {
	good := AppendRecord(nil, &Event{Stream: "account:1", Version: 1, Type: "T", Data: []byte(`{"a":1}`), Time: 5})
	cases := map[string][]byte{
		"empty":                             {},
		"unknown format":                    append([]byte{9}, good[1:]...),
		"truncated":                         good[:len(good)-3],
		"trailing bytes":                    append(append([]byte{}, good...), 0),
		"huge length":                       {recordFormat1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":                        {recordFormat1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"format 2 without its type version": append([]byte{recordFormat2}, good[1:]...),
		"type version past 32 bits":         append(append([]byte{recordFormat2}, good[1:]...), 0x80, 0x80, 0x80, 0x80, 0x10),
	}
	for name, rec := range cases {
		var e Event
		err := DecodeRecord(rec, 1, &e)
		if !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("%s: got %v, want ErrCorruptRecord", name, err)
		}
	}
}

func TestKeysArePrefixFree(t *testing.T) {
	// "a" version 1 must not fall inside the index range of stream "a\x00...".
	a := indexKey(nil, "ab", 1)
	b := indexPrefix(nil, "a")
	if bytes.HasPrefix(a, b) {
		t.Fatalf("index key of 'ab' starts with the prefix of 'a'")
	}
	if !bytes.HasPrefix(indexKey(nil, "a", 7), b) {
		t.Fatalf("index key of 'a' lacks its prefix")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, &Event{Stream: "account:1", Version: 1, Type: "T", Data: []byte(`{}`)}))
	f.Add([]byte{recordFormat1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var e Event
		if err := DecodeRecord(rec, 1, &e); err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v does not wrap ErrCorruptRecord", err)
			}
			return
		}
		// Whatever decodes must survive an encode and decode unchanged.
		var again Event
		if err := DecodeRecord(AppendRecord(nil, &e), 1, &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("decode/encode/decode changed the event:\n%+v\n%+v", e, again)
		}
	})
}

func BenchmarkRecordEncode(b *testing.B) {
	e := Event{Stream: "account:42", Version: 7, Type: "BalanceIncreased", Data: []byte(`{"amount":10}`), Time: 1700000000000}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], &e)
	}
}

func BenchmarkRecordDecode(b *testing.B) {
	rec := AppendRecord(nil, &Event{Stream: "account:42", Version: 7, Type: "BalanceIncreased", Data: []byte(`{"amount":10}`), Time: 1700000000000})
	var e Event
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeRecord(rec, 1, &e); err != nil {
			b.Fatal(err)
		}
	}
}
