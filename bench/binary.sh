# Sourced by the benchmark scripts: sets mp to the binary under
# measurement, MP when given (such as one built from an earlier commit, to
# compare), else bin/marketplace built from this tree.
mp=${MP:-}
if [ -z "$mp" ]; then
	go build -o bin/marketplace ./cmd/marketplace
	mp=bin/marketplace
fi
