package searchindex

import "testing"

func TestLeniencyWidensOnlyAQueryItChanges(t *testing.T) {
	x, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	tests := []struct {
		name  string
		words []string
		want  bool
	}{
		{"a single word of five letters or more is the same query", []string{"books"}, false},
		{"a single word of nine letters is the same query", []string{"headphones"}, false},
		{"a word of four letters gets a typo", []string{"lamp"}, true},
		{"a word of three letters gets a typo", []string{"dsk"}, true},
		{"two words may lose one", []string{"desk", "lamps"}, true},
		{"a stop word before one long word is not required either way", []string{"the", "books"}, false},
		{"a word of two letters gets no typo", []string{"tv"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := x.leniencyWidens(tt.words); got != tt.want {
				t.Errorf("leniencyWidens(%q) = %v, want %v", tt.words, got, tt.want)
			}
		})
	}
}
