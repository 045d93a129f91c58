# Chromium for the admin dashboard's browser tests (Playwright drives Debian's build; no browser download).
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium fonts-dejavu-core
fi
