package mongo

// TallyOnServer lets the tests compare Tally on the embedded FerretDB
// with the driver's way.
var TallyOnServer = tallyOnServer
