from flexzoo.cli import main

raise SystemExit(main())
