package runtime

// HugePagesAlways is hugePagesAlways for the package's external tests.
var HugePagesAlways = hugePagesAlways

// PoolKeep is how much memory past the image a reset keeps resident.
const PoolKeep = poolKeep
