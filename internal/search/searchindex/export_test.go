package searchindex

// ProductsKept is how many decoded products x keeps (products.go).
func ProductsKept(x *Index) int64 { return x.columns.products.kept.Load() }

// SetMaxProducts sets how many decoded products x may keep.
func SetMaxProducts(x *Index, n int64) { x.columns.products.limit = n }
