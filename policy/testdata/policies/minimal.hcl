# One read-only mount; everything else is the default.
mount "/src" {}
