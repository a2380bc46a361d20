from duomfa.cli import main

raise SystemExit(main())
