package search

// MinRefresh is minRefresh, for the tests of the category lookup.
const MinRefresh = minRefresh
