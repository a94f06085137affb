from ewssim.cli import main

raise SystemExit(main())
