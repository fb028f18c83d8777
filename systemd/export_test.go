package systemd

// Quote is quote, for the tests.
var Quote = quote
