raise SystemExit('ADVERSARIAL pytest shadow ran')
