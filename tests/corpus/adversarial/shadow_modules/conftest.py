import os
os.system('touch /tmp/ADVERSARIAL-conftest')
