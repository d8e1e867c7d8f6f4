raise SystemExit('ADVERSARIAL numpy shadow ran')
